"""Pure figure builders: stored tables in, plotly figures out (tested without a browser)."""
