"""Test-only fault injection for real node processes (crash points, deaf heights, Byzantine
modes). Nothing in the node imports this package: node.service loads it by name only when a
fault is asked for (``--misbehave``, ``CBDC_CRASH_POINT``, ``CBDC_DEAF_HEIGHTS``) and hands
its functions to the store and the driver as hooks, which are no-ops otherwise."""
