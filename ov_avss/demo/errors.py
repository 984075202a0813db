"""The one error type the demo raises for bad user input (the CLI turns it into exit code 2)."""


class DemoInputError(ValueError):
    """An input video, frame folder, audio file or vocabulary the demo cannot use."""
