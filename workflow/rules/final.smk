# Each optimizer with its selected hyperparameters, on the full training set, evaluated on the
# test set every epoch, once per seed of the study. Studies with `variance:` also write the
# gradient-variance diagnostics of their final runs (RUN.variance.csv).


use rule tune as final with:
    input:
        unpack(final_input),
    output:
        **final_outputs(),
    log:
        log_path(FINAL),
    params:
        args=final_params,
        code=training_code,
        checkpoint=checkpoint_path(FINAL),
