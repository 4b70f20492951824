"""The context server: the state store over HTTP, with a live dashboard (``orch serve``).

``httpserver`` is the stdlib threading server and its clean stop, ``api`` routes
requests and turns bad input into 4xx JSON, ``views`` builds the JSON documents from
the store, ``stream`` sends run events as Server-Sent Events (one hub thread for every
stream), ``access`` holds the security rules (loopback, token, same-origin writes,
request size), ``framing`` accounts for every request's body, ``connections`` bounds
connections and their time (cap, deadlines, the 503 refuser), ``pool`` lends store
connections to request threads, ``runs`` is the built-in plugin that serves a running
``orch run`` (``--serve``, ``start_context_server_v2``), and ``static/`` is the
dashboard page.

Nothing here is imported when ``orch`` starts: only ``runs`` (a few hooks) is, and it
imports the rest when a server is started.
"""
