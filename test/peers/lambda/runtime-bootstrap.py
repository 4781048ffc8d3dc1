# The Python runtime of the Lambda emulator: what /var/runtime does on Lambda's python runtimes, with
# the standard library only. It imports `_HANDLER` ("module.function", "pkg/module.function") from
# LAMBDA_TASK_ROOT, reports init errors, then loops on invocation/next, calls the handler with
# (event, context) and posts its response or error. Log records get Lambda's text format
# ("[LEVEL]\t<iso time>\t<request id>\t<message>"); print() goes to stdout as it is.
import importlib
import json
import logging
import os
import sys
import time
import traceback
from http.client import HTTPConnection

RUNTIME_API = os.environ["AWS_LAMBDA_RUNTIME_API"]
HANDLER = os.environ.get("_HANDLER", "")
TASK_ROOT = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
BASE = "/2018-06-01/runtime"

sys.stdout.reconfigure(line_buffering=True)
sys.stderr.reconfigure(line_buffering=True)

host, port = RUNTIME_API.rsplit(":", 1)
# One connection, no timeout: invocation/next is a long poll that spans freezes.
connection = HTTPConnection(host, int(port))


def call(method, path, body=None, headers=None):
    global connection
    payload = None if body is None else json.dumps(body).encode("utf-8") if not isinstance(body, bytes) else body
    for attempt in (1, 2):
        try:
            connection.request(method, path, body=payload, headers=headers or {})
            res = connection.getresponse()
            return res.status, res.headers, res.read()
        except (ConnectionError, OSError):
            # A connection the server closed between two calls: one new one, then give up.
            connection.close()
            connection = HTTPConnection(host, int(port))
            if attempt == 2:
                raise


def error_body(err, error_type=None):
    return {
        "errorMessage": str(err),
        "errorType": error_type or type(err).__name__,
        "stackTrace": traceback.format_exception(type(err), err, err.__traceback__),
    }


class RequestIdFilter(logging.Filter):
    request_id = None

    def filter(self, record):
        record.aws_request_id = RequestIdFilter.request_id
        return True


def setup_logging():
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter("[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s", "%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)


def init_error(body):
    print(f"{body['errorType']}: {body['errorMessage']}", file=sys.stderr)
    try:
        call("POST", f"{BASE}/init/error", body, {"Lambda-Runtime-Function-Error-Type": body["errorType"], "Content-Type": "application/json"})
    finally:
        sys.exit(1)


def load_handler():
    module_path, dot, function_name = HANDLER.rpartition(".")
    if not dot or not module_path or not function_name:
        init_error({"errorMessage": f"Bad handler '{HANDLER}': not enough values to unpack", "errorType": "Runtime.MalformedHandlerName", "stackTrace": []})
    sys.path.insert(0, TASK_ROOT)
    try:
        module = importlib.import_module(module_path.replace("/", "."))
    except SyntaxError as err:
        init_error(error_body(err, "Runtime.UserCodeSyntaxError"))
    except ImportError as err:
        init_error(error_body(err, "Runtime.ImportModuleError"))
    except Exception as err:  # the module's own init code failed
        init_error(error_body(err))
    fn = getattr(module, function_name, None)
    if not callable(fn):
        init_error({"errorMessage": f"Handler '{function_name}' missing on module '{module_path}'", "errorType": "Runtime.HandlerNotFound", "stackTrace": []})
    return fn


class MarshalError(Exception):
    """The handler's result is not JSON: Lambda reports Runtime.MarshalError."""


class Context:
    def __init__(self, headers):
        self.aws_request_id = headers.get("Lambda-Runtime-Aws-Request-Id")
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms", "0"))

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


def main():
    setup_logging()
    handler = load_handler()
    while True:
        status, headers, body = call("GET", f"{BASE}/invocation/next")
        if status != 200:
            print(f"invocation/next answered {status}: {body.decode('utf-8', 'replace')}", file=sys.stderr)
            sys.exit(1)
        context = Context(headers)
        request_id = context.aws_request_id
        RequestIdFilter.request_id = request_id
        trace = headers.get("Lambda-Runtime-Trace-Id")
        if trace:
            os.environ["_X_AMZN_TRACE_ID"] = trace
        else:
            os.environ.pop("_X_AMZN_TRACE_ID", None)
        try:
            event = json.loads(body) if body else None
        except ValueError:
            event = body.decode("utf-8", "replace")
        try:
            result = handler(event, context)
            try:
                payload = json.dumps(result).encode("utf-8")
            except (TypeError, ValueError) as err:
                raise MarshalError(f"Unable to marshal response: {err}") from err
            call("POST", f"{BASE}/invocation/{request_id}/response", payload, {"Content-Type": "application/json"})
        except Exception as err:
            error = error_body(err, "Runtime.MarshalError" if isinstance(err, MarshalError) else None)
            print(f"[ERROR] {error['errorType']}: {error['errorMessage']}", file=sys.stderr)
            call("POST", f"{BASE}/invocation/{request_id}/error", error, {"Lambda-Runtime-Function-Error-Type": error["errorType"], "Content-Type": "application/json"})


main()
