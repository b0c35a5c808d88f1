"""The OpenID Connect provider on 127.0.0.1 that the sign-on tests use."""

import pytest

from .test_single_sign_on import Provider, use_provider


@pytest.fixture
def provider(settings):
    with Provider() as running:
        use_provider(settings, running.url)
        yield running
