"""The built-in architectures: importing this module registers them all.

    random            uniform random actions                     (basic.py)
    scripted          hand-written rules, e.g. tit_for_tat       (basic.py)
    mlp_actor_critic  JaxMARL IPPO-FF actor-critic               (actor_critic.py)
    cnn_actor_critic  JaxMARL IPPO-CNN actor-critic              (actor_critic.py)
    softmoe_gru       Internal Other-Play SoftMoE-GRU            (softmoe_gru.py)
    ensemble          mode-action ensemble of other agents       (ensemble.py)
    naive_learner     IPD memory-1 policy learning in-match (A2C) (learners.py)
    history_gru       GRU over a meta-episode's history, COALA-PG  (history_gru.py)
    corner_prey       mpe_tag_intent prey heading for its corner  (tag_scripted.py)
    chaser            mpe_tag predator stepping toward the prey    (tag_scripted.py)
    belief_planner    privileged predator rolling the true simulator (planner.py)
"""
from arena.agents import actor_critic, basic, ensemble, history_gru, learners, planner, softmoe_gru, tag_scripted  # noqa: F401
