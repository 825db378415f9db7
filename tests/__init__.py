"""The test suite is a package (tests.*), so that pytest puts the checkout root, not tests/,
on sys.path: `import node` then finds this checkout's node/, never tests/node/."""
