#!/opt/venv/bin/python
"""Stand-in for two views of Pulp 2.21.5's REST API, run by httpd (mod_cgid) as the user
httpd serves as (`apache`), with the effective server.conf, as Pulp's WSGI app is:

  GET  /pulp/api/v2/status/            views/status.py: versions, database_connection,
                                       messaging_connection, known_workers (the `workers`
                                       records with a heartbeat younger than worker_timeout
                                       minus worker_timeout / 5: querysets.get_online)
  POST /pulp/api/v2/content/uploads/   views/content.py + managers/content/upload.py: makes
                                       <[server] storage_dir>/uploads if needed, creates an
                                       empty file named by a new uuid4 in it; 201 with
                                       `_href` and `upload_id` and a Location; an OSError
                                       there is Pulp's HTTP 500

Uploads need HTTP Basic credentials, as Pulp's `auth_required` views do; the stand-in takes
the default user pulp-manage-db makes (admin/admin). Nothing from the request reaches a shell
or a path but the fixed ones above (the upload's name is the uuid made here)."""
import base64
import datetime
import json
import os
import sys
import uuid

sys.path.insert(0, "/opt/stand-ins")
import conf  # noqa: E402

API = "/pulp/api"


def respond(status, body, headers=()):
    out = sys.stdout
    out.write("Status: %s\r\n" % status)
    out.write("Content-Type: application/json; charset=utf-8\r\n")
    for name, value in headers:
        out.write("%s: %s\r\n" % (name, value))
    out.write("\r\n")
    out.write(json.dumps(body))
    out.flush()


def error(code, reason, message, method):
    respond(
        "%d %s" % (code, reason),
        {
            "http_status": code,
            "http_request_method": method,
            "_href": os.environ.get("REQUEST_URI", ""),
            "error_message": message,
            "exception": None,
            "traceback": None,
        },
    )


def database():
    import pymongo

    url = os.environ.get(
        "TEST_MONGO_URL", "mongodb://%s/" % conf.get("database", "seeds", "localhost:27017")
    )
    client = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
    return client[conf.get("database", "name", "pulp_database")]


def iso8601(dt):
    # views/util.pulp_json_encoder: UTC, dateutils.format_iso8601_datetime.
    return dt.replace(tzinfo=None).strftime("%Y-%m-%dT%H:%M:%SZ")


def status():
    timeout = int(conf.get("tasks", "worker_timeout", "30"))
    online_for = timeout - int(timeout / 5)
    workers = []
    try:
        db = database()
        db.workers.count_documents({})
        connected = True
    except Exception:  # noqa: BLE001 - status_manager.get_mongo_conn_status: any failure
        connected = False
    if connected:
        oldest = datetime.datetime.utcnow() - datetime.timedelta(seconds=online_for)
        for w in db.workers.find({"last_heartbeat": {"$gte": oldest}}):
            workers.append(
                {"_id": w["_id"], "_ns": "workers", "last_heartbeat": iso8601(w["last_heartbeat"])}
            )
    try:
        from kombu import Connection

        broker = os.environ.get("TEST_BROKER_URL") or conf.get(
            "tasks", "broker_url", "qpid://localhost/"
        )
        with Connection(broker, connect_timeout=5) as c:
            c.connect()
        messaging = True
    except Exception:  # noqa: BLE001 - status_manager.get_broker_conn_status: any failure
        messaging = False
    respond(
        "200 OK",
        {
            "api_version": "2",
            "versions": {"platform_version": "2.21.5"},
            "database_connection": {"connected": connected},
            "messaging_connection": {"connected": messaging},
            "known_workers": workers,
        },
    )


def authenticated():
    header = os.environ.get("HTTP_AUTHORIZATION", "")
    if not header.startswith("Basic "):
        return False
    try:
        return base64.b64decode(header[6:]).decode() == "admin:admin"
    except Exception:  # noqa: BLE001 - a malformed header is no credential
        return False


def upload(method):
    if not authenticated():
        return error(401, "Unauthorized", "Authentication Failed", method)
    storage = conf.get("server", "storage_dir", "/var/lib/pulp")
    upload_id = str(uuid.uuid4())
    try:
        directory = os.path.join(storage, "uploads")
        os.makedirs(directory, exist_ok=True)
        open(os.path.join(directory, upload_id), "w").close()
    except OSError as e:
        return error(500, "Internal Server Error", str(e), method)
    href = "%s/v2/content/uploads/%s/" % (API, upload_id)
    respond(
        "201 Created",
        {"_href": href, "upload_id": upload_id},
        headers=[("Location", href)],
    )


def main():
    method = os.environ.get("REQUEST_METHOD", "GET")
    path = os.environ.get("PATH_INFO", "")
    if path in ("/v2/status/", "/v2/status"):
        if method != "GET":
            return error(405, "Method Not Allowed", "method not allowed", method)
        return status()
    if path in ("/v2/content/uploads/", "/v2/content/uploads"):
        if method != "POST":
            return error(405, "Method Not Allowed", "method not allowed", method)
        return upload(method)
    return error(404, "Not Found", "not found", method)


main()
