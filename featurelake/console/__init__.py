"""The governance console: registry, lineage, versions, approvals, runs, training sets, monitoring, audit.

``featurelake console`` serves it (:mod:`featurelake.console.app`); templates and static
assets (vendored cytoscape.js + dagre for the lineage graph) sit beside the modules.
"""
