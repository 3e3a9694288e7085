"""moto_server for the tests, with DynamoDB requests run one at a time.

moto 5.2.5 serves each request on its own thread, and its DynamoDB backend is not
thread-safe: concurrent UpdateItems on one item race (two `ADD version :one` return
the same version, or one raises "dictionary changed size during iteration" in
DynamoType.size() after applying the update, answers 500, and the SDK's retry
increments again). DynamoDB itself applies writes to an item atomically, so the
adapters' concurrency tests (services/aws/tests/dynamo.rs) need that here too.
Only DynamoDB calls take the lock: SQS long polls and everything else stay parallel.

Usage: python .ci/moto_server.py HOST PORT
"""

import sys
import threading

from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple

dynamodb = threading.Lock()
backend = DomainDispatcherApplication(create_backend_app)


def app(environ, start_response):
    if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
        return backend(environ, start_response)
    with dynamodb:
        result = backend(environ, start_response)
        try:
            return [b"".join(result)]
        finally:
            if hasattr(result, "close"):
                result.close()


if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    run_simple(host, port, app, threaded=True, request_handler=MotoRequestHandler)
