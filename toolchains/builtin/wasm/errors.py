"""The codec's one error type: malformed or unsupported input, with where."""


class DecodeError(Exception):
    def __init__(self, message: str, offset: int | None = None):
        self.offset = offset
        super().__init__(f"{message} (at byte {offset:#x})" if offset is not None else message)
