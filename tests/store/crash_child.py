"""Child process of the crash test: applies random blocks to a store until it is killed.

    python -m tests.store.crash_child DB_PATH SEED      (from the checkout root)

Prints "ready <height>" once the store is open, then commits blocks forever (each one
proposed, validated and committed exactly as a node does). The parent SIGKILLs it at a
random moment and checks what a restart would find.
"""

from __future__ import annotations

import random
import sys

from tests.store.harness import Net, Node, TxFactory


def main(path: str, seed: int) -> None:
    net = Net()
    node = Node(path, net)
    factory = TxFactory(net, node.store)
    rng = random.Random(seed)
    print("ready", node.store.height, flush=True)
    while True:
        built = node.propose(factory.candidates(rng, rng.randint(1, 40), invalid_share=0.1))
        factory.note_committed(node.commit(built.block_bytes))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
