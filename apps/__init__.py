"""The applications: one package per `dlsuite` application name, each with its own README.md.

Nothing is imported here, so importing one application imports only that application (and the
shared `common/` layer). The one list of every application is `dlsuite.registry`, above them.
"""
