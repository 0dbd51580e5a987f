"""The one error type of the server: an HTTP status and a message, answered as TF Serving does: `{"error": ...}`."""


class ServingError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message
