"""Feature health monitoring (application room): the HTML report."""
