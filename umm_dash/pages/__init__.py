"""The dashboard's pages, one module each (imported by ``create_app``)."""
