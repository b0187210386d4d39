"""gunicorn settings: `gunicorn -c config/gunicorn.conf.py wsgi:app`."""

import multiprocessing
import os
import random

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# A worker per core, two threads each. A request here is CPU work in Python around short round
# trips to PostgreSQL and Redis, so more processes than cores only take turns on them, each
# switch evicting the other's CPU caches. On the 2-core reference machine, PostgreSQL on the
# same cores, alternating runs of bench/load_mix.py's traffic (32 connections) had a p95 of
# 94-160 ms with 2 x 2 against 140-225 ms with the former 4 x 2, at about the same throughput.
# One thread per worker did as well there, but would let one slow request (an export, a large
# plan) hold every keep-alive connection queued on its worker.
workers = int(os.environ.get("WEB_CONCURRENCY", max(2, multiprocessing.cpu_count())))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Recycle a worker after about this many requests, a guard against slow leaks. A restart costs
# about a second of a core (imports, the app, its caches), so under full load it should come
# every few minutes per worker: at 5,000, bench/search.py saw a worker restart every ~13 s and
# the p95 of a search double.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "100000"))
max_requests_jitter = max_requests // 10
# nginx in front logs every request already; gunicorn formatting the same line again was 4 % of
# a worker's CPU under bench/load_mix.py's traffic. ACCESS_LOG=- (stdout) or a path turns it on,
# as `make run` does for a developer watching the console.
accesslog = os.environ.get("ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# A keep-alive connection stays with the worker that accepted it, and the kernel hands a burst
# of new connections to whichever worker wakes first: under load one worker may hold several
# times the connections of another, and the requests on it queue behind each other while the
# others idle. Closing a connection after about this many requests (nginx's keepalive_requests,
# chosen at random so clients do not reconnect in step) lets the client's next connection go to
# a worker that is free at that moment. 0 keeps connections for as long as the client likes.
keepalive_requests = int(os.environ.get("GUNICORN_KEEPALIVE_REQUESTS", "50"))


def pre_request(worker, req):
    if keepalive_requests and random.random() * keepalive_requests < 1:  # noqa: S311 (not a secret)
        req.must_close = True


# Lower CPU priority for this pool's workers (a nice value, 0-19). docs/deploy.md runs two pools,
# pages and the API, behind nginx (config/nginx/outletpool-routes.conf) and gives the API's 10:
# when both want the CPU, a page waits for no API call, and the API takes what pages leave.
# Set here, before the worker starts its threads, so every thread of the worker has it.
nice = int(os.environ.get("GUNICORN_NICE", "0"))


def post_fork(server, worker):
    if nice:
        os.nice(nice)


def post_worker_init(worker):
    """Take what a worker holds for its whole life (modules, the app, its templates, the
    division index) out of the garbage collector's full passes. A worker tracks some 300,000
    such objects, and a full pass over them stopped every request in it for ~140 ms, a stall
    that landed in the slowest percentile under load; after gc.freeze() a pass takes ~12 ms."""
    import gc

    from services import divisions

    try:
        with worker.wsgi.app_context():
            divisions.index()  # every page uses it; built now, it is frozen with the rest
    except Exception as error:  # the database may be down at start: the first page builds it
        worker.log.warning("division index not preloaded: %s", error)
    gc.freeze()
