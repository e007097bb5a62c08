"""HTTP in, engine calls, HTTP out. `serve run serve_app:app` deploys `app`."""


def __getattr__(name: str):
    # Imported lazily so `serve_app.api` (plain Starlette) does not pull in Ray Serve; the
    # Starlette module is not called `app`, or importing it would shadow this attribute.
    if name == "app":
        from serve_app.deployment import app

        return app
    raise AttributeError(name)
