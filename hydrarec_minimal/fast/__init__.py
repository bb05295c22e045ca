"""Opt-in speed-ups, each tested equal to the plain version it replaces.

``fused``: Hydra attention compiled by ``torch.compile``; ``compiled``: a function compiled ahead
of time for inference (AOTInductor); ``chunked_loss``: the full cross-entropy without the
(positions x items) score matrix.
"""
