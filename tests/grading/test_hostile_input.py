"""Learner input built to exhaust memory or crash the graders."""

import pytest

from labplatform.content.safe_yaml import load_all_untrusted
from labplatform.grading.checks import GradingContext, Status, check, passed, run_checks
from labplatform.grading.dockerfile import DockerfileError, parse_dockerfile


def test_yaml_aliases_are_rejected():
    bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"

    with pytest.raises(Exception, match="aliases"):
        load_all_untrusted(bomb)


def test_plain_yaml_still_loads():
    assert load_all_untrusted("a: 1\n---\nb: [2]\n") == [{"a": 1}, {"b": [2]}]


def test_doubling_env_is_rejected():
    text = "FROM alpine\nENV A=aaaaaaaa\n" + "ENV A=$A$A\n" * 26

    with pytest.raises(DockerfileError, match="the limit is"):
        parse_dockerfile(text)


def test_deep_substitution_is_rejected():
    text = "FROM alpine\nENV A=" + "${A:-" * 600 + "x" + "}" * 600 + "\n"

    with pytest.raises(DockerfileError, match="nested too deeply"):
        parse_dockerfile(text)


def test_long_flag_list_parses():
    text = "FROM alpine\nRUN " + "--a " * 50_000 + "true\n"

    dockerfile = parse_dockerfile(text)

    assert len(dockerfile.final_stage.instructions[-1].flags) == 50_000


def test_escaped_space_stays_in_flag():
    dockerfile = parse_dockerfile(
        "FROM alpine\nRUN --mount=type=cache,target=/a\\ b --network=none echo hi\n"
    )

    flags = dockerfile.final_stage.instructions[-1].flags
    assert flags == ("--mount=type=cache,target=/a\\ b", "--network=none")


def test_broken_check_does_not_lose_run():
    @check(id="explodes", title="Explodes", hint="h")
    def explodes(context):
        raise RecursionError("too deep")

    @check(id="fine", title="Fine", hint="h")
    def fine(context):
        return passed("ok")

    results = run_checks([explodes, fine], GradingContext(namespace="n", lab_slug="l"))

    assert results[0].status == Status.ERROR
    assert results[1].status == Status.PASS
