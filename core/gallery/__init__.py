"""Who is enrolled: people, samples and templates, enrolment, matching, calibration and the model lifecycle."""
