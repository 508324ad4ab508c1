"""The dashboard's pages, one module per area; each exposes its handlers (and ``add_routes``)."""
