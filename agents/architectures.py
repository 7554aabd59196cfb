"""The built-in architectures: importing this module registers them all.

    random            uniform random actions                     (basic.py)
    scripted          hand-written rules, e.g. tit_for_tat       (basic.py)
    mlp_actor_critic  JaxMARL IPPO-FF actor-critic               (actor_critic.py)
    cnn_actor_critic  JaxMARL IPPO-CNN actor-critic              (actor_critic.py)
    softmoe_gru       Internal Other-Play SoftMoE-GRU            (softmoe_gru.py)
    ensemble          mode-action ensemble of other agents       (ensemble.py)
    naive_learner     IPD memory-1 policy learning in-match (A2C) (learners.py)
    history_gru       GRU over a meta-episode's history, COALA-PG  (history_gru.py)
    intent_encoder    GRU posterior over a hidden class           (intent_encoder.py)
    belief_predator   intent encoder + policy on obs and belief   (intent_encoder.py)
    belief_planner    privileged predators rolling the true simulator (planner.py)
"""
from arena.agents import actor_critic, basic, ensemble, history_gru, intent_encoder, learners, planner, softmoe_gru  # noqa: F401
