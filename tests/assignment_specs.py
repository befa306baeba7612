"""The assignment specs the tests build: one text each, shared by the test modules."""

TRIAL_SPEC = """\
title = "Homework 4: the teacher trial"
time_limit = 5

[[questions]]
id = "q1"
exercise = "npae.penalties:kl_sparsity_grad"
points = 5

[[questions]]
id = "q2"
exercise = "npae.penalties:contractive_grad"
points = 4

[[questions]]
id = "q3"
exercise = "npae.models.vae:reparameterize_backward"
points = 3

[[questions]]
id = "q4"
exercise = "npae.models.vae:gaussian_kl_grad"
points = 3

[[questions]]
id = "q5"
exercise = "npae.noise:MaskingNoise.backward"
points = 3

[[questions]]
id = "q6"
exercise = "npae.gmm:GaussianMixture._e_step"
points = 4
"""
"""The teacher trial of issue 18: six questions, 22 points."""

HOMEWORK3_SPEC = """\
title = "Homework 3: sparse and variational autoencoders"
time_limit = 5

[[questions]]
id = "q1"
exercise = "npae.penalties:kl_sparsity_grad"
points = 5

[[questions]]
id = "q2"
exercise = "npae.models.vae:reparameterize_backward"
points = 3
"""
"""Two questions, 8 points: a quick build for the grading and notebook tests."""
