"""Built-in connectors, each a package registered under the ``hub.connectors`` entry points.

They are plugins like any third-party one: ``hub/`` never imports this package.
"""
