"""The one error type of the server: an HTTP status and a message, answered as TF Serving does: `{"error": ...}`.

TF Serving's handlers fail with a TensorFlow status code, and its HTTP server maps the code to an HTTP status;
`STATUS_OF_CODE` is that map, so an error raised here by code name gets the status TF Serving would send.
"""

STATUS_OF_CODE = {
    "CANCELLED": 499, "UNKNOWN": 500, "INVALID_ARGUMENT": 400, "DEADLINE_EXCEEDED": 504, "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409, "PERMISSION_DENIED": 403, "RESOURCE_EXHAUSTED": 429, "FAILED_PRECONDITION": 400,
    "ABORTED": 409, "OUT_OF_RANGE": 400, "UNIMPLEMENTED": 501, "INTERNAL": 500, "UNAVAILABLE": 503,
    "DATA_LOSS": 500, "UNAUTHENTICATED": 401,
}


class ServingError(Exception):
    def __init__(self, status, message, code=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or next((c for c, s in STATUS_OF_CODE.items() if s == status), "UNKNOWN")


def invalid(message):
    """INVALID_ARGUMENT (400): what TF Serving answers for almost every problem with a request."""
    return ServingError(400, message, "INVALID_ARGUMENT")


def not_found(message):
    return ServingError(404, message, "NOT_FOUND")


def from_tensorflow(error):
    """A `tf.errors.OpError` from running a model, with the HTTP status TF Serving gives its code."""
    name = next((code for code, cls in _error_classes().items() if isinstance(error, cls)), "UNKNOWN")
    message = (getattr(error, "message", None) or str(error)).strip()
    return ServingError(STATUS_OF_CODE[name], message, name)


def _error_classes():
    import tensorflow as tf

    return {"CANCELLED": tf.errors.CancelledError, "UNKNOWN": tf.errors.UnknownError,
            "INVALID_ARGUMENT": tf.errors.InvalidArgumentError, "DEADLINE_EXCEEDED": tf.errors.DeadlineExceededError,
            "NOT_FOUND": tf.errors.NotFoundError, "ALREADY_EXISTS": tf.errors.AlreadyExistsError,
            "PERMISSION_DENIED": tf.errors.PermissionDeniedError,
            "RESOURCE_EXHAUSTED": tf.errors.ResourceExhaustedError,
            "FAILED_PRECONDITION": tf.errors.FailedPreconditionError, "ABORTED": tf.errors.AbortedError,
            "OUT_OF_RANGE": tf.errors.OutOfRangeError, "UNIMPLEMENTED": tf.errors.UnimplementedError,
            "INTERNAL": tf.errors.InternalError, "UNAVAILABLE": tf.errors.UnavailableError,
            "DATA_LOSS": tf.errors.DataLossError, "UNAUTHENTICATED": tf.errors.UnauthenticatedError}
