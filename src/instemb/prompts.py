"""Task-focusing prompt templates (the "P" in PIE).

A template is a string with one ``{instruction}`` slot. Named templates:

- ``pie``: the paper's prompt (Li et al., 2024). As in the paper, a period is appended to an
  instruction that does not already end in ``. ? " '``.
- ``pie-short``: the short PromptEOL-style variant.
- ``none``: the instruction as it is.

Any other string containing ``{instruction}`` is used as given.
"""

from __future__ import annotations

from dataclasses import dataclass

from instemb.errors import InstembError

SLOT = "{instruction}"

PIE = (
    "The essence of an instruction is its task intention. With this in mind, given the "
    "instruction below:\n\n{instruction}\n\nafter thinking step by step, the task of the "
    "given instruction is:"
)
PIE_SHORT = 'This sentence of "{instruction}" means:'

_NAMED = {"pie": (PIE, True), "pie-short": (PIE_SHORT, False), "none": (SLOT, False)}
_ENDINGS = (".", "?", '"', "'")


@dataclass(frozen=True)
class Prompt:
    """A template and whether instructions get a closing period before insertion."""

    name: str
    template: str
    add_period: bool = False

    def split(self, instruction: str) -> tuple[str, str, str]:
        """Return (prefix, instruction as inserted, suffix); their concatenation is the text."""
        text = instruction
        if self.add_period and not text.rstrip().endswith(_ENDINGS):
            text = text.rstrip() + "."
        before, after = self.template.split(SLOT, 1)
        return before, text, after

    def format(self, instruction: str) -> str:
        return "".join(self.split(instruction))

    @property
    def is_identity(self) -> bool:
        return self.template == SLOT and not self.add_period


def get_prompt(prompt: str | Prompt | None) -> Prompt:
    """Resolve a prompt name or template string into a :class:`Prompt`."""
    if isinstance(prompt, Prompt):
        return prompt
    if prompt is None:
        prompt = "none"
    if prompt in _NAMED:
        template, add_period = _NAMED[prompt]
        return Prompt(prompt, template, add_period)
    if not isinstance(prompt, str) or prompt.count(SLOT) != 1:
        raise InstembError(
            f"unknown prompt {prompt!r}: use one of {', '.join(_NAMED)} or a template "
            f"containing {SLOT} exactly once"
        )
    return Prompt("custom", prompt, False)


def prompt_names() -> list[str]:
    return list(_NAMED)
