"""YAML loading for text learners control."""

import yaml


class NoAliasLoader(yaml.SafeLoader):
    """A SafeLoader that rejects aliases (anchors alone are harmless).

    A few hundred bytes of nested aliases expand to gigabytes (a "billion
    laughs" document), and Kubernetes manifests never need them.
    """

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                "aliases (*name) are not allowed here; write the value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)


def load_all_untrusted(text: str) -> list:
    """Parse every YAML document of text, without aliases."""
    return list(yaml.load_all(text, Loader=NoAliasLoader))
