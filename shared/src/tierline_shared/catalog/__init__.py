"""One ranked, config-as-code catalog resource: stored rows, the use cases over them, the API schemas
and the routes every catalog admin API mounts (queues, escalation and SLA policies, calendars, vendors).

``repository``: a catalog's rows through one small generic repository; ``resource``: what a
resource is (its row, its domain type, how one maps to the other) and the use cases every
catalog shares (add, replace, remove, list with rank warnings, apply the config file);
``schemas``: the In / Replace / Out API models made from the API's own field declarations;
``routes``: the standard CRUD routes mounted on a router.
"""
