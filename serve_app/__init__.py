"""HTTP in, engine calls, HTTP out. `serve run serve_app:app` deploys `app`."""


def __getattr__(name: str):
    # Imported lazily so `serve_app.app` (plain Starlette) does not pull in Ray Serve.
    if name == "app":
        from serve_app.deployment import app

        return app
    raise AttributeError(name)
