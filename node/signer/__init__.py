"""A remote signer: the validator's consensus key and sign-state in a process of their own
(`cbdc signer`), reached by the node over a Unix socket (the CometBFT privval / tmkms
pattern). protocol.py is the wire, server.py the signer process, client.py the node's side.
"""
