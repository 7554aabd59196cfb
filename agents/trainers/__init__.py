"""arena's trainers: one run description, one driver, one contract.

    pieces.py    the pure in-jit pieces: auto-reset stepping, episode stats, GAE, the clipped
                 policy loss, minibatch epochs, the optimizer, the linear anneal
    contract.py  what the driver reads from a trainer (`Trainer`), and the policy-gradient
                 config and base PPO and IOP share
    runfiles.py  the files of a run: training state, metrics JSONL, curves, deferred Ctrl-C
    driver.py    the one run loop: compiled chunks, progress, checkpoints, resume
    ppo.py       independent PPO in self-play
    iop.py       Internal Other-Play for softmoe_gru
    coala.py     COALA-PG (batch lambda returns) against in-match naive learners
    run.py       `RunSpec` (what a run's state file records), the trainer kinds, `train`
    population.py  N PPO runs (members differing by seed and env params, e.g. shapings) as
                 one compiled call; population.json
    selection.py how a population's shapings are chosen (lhs, random, surrogate, same) and
                 their diversity
"""
from arena.agents.trainers.driver import RunResult
from arena.agents.trainers.run import TRAINERS, RunSpec, build_trainer, recorded_spec, train

__all__ = ["TRAINERS", "RunResult", "RunSpec", "build_trainer", "recorded_spec", "train"]
