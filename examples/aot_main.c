/* A C program running the model of examples/aot_model.py without Python.
 *
 *   aot-compile examples/aot_model.py -o build/aot
 *   cc -O2 -I build/aot examples/aot_main.c build/aot/train_step.o build/aot/predict.o -lm -o demo
 *   ./demo
 *
 * It trains on the batch of aot_model.example_batch() for 5 steps, prints the
 * loss of each step and the learned weights, then predicts two rows with
 * them; `python examples/aot_model.py` prints the same numbers.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "predict.h"
#include "train_step.h"

#define ROWS 8
#define FEATURES 4

int main(void) {
    double X[ROWS][FEATURES], y[ROWS];
    for (int i = 0; i < ROWS; i++) {
        for (int j = 0; j < FEATURES; j++)
            X[i][j] = 2.0 * sin((double)(i * FEATURES + j));
        y[i] = (double)(i % 2);
    }

    train_step_state state;
    train_step_state_init(&state);              /* w, b as in Python when compiled */
    for (int step = 0; step < 5; step++) {
        double loss;
        int rc = train_step(&state, &X[0][0], ROWS, y, ROWS, 0.5, &loss);
        if (rc != THEON_OK) {
            fprintf(stderr, "train_step failed: %s\n", theon_strerror(rc));
            return 1;
        }
        printf("step %d: loss %.6f\n", step, loss);
    }
    printf("w: [%.8f %.8f %.8f %.8f] b: %.8f\n", state.w[0], state.w[1], state.w[2], state.w[3], state.b);

    /* predict has its own state struct: give it the trained weights */
    predict_state pstate;
    memcpy(pstate.w, state.w, sizeof pstate.w);
    pstate.b = state.b;

    int64_t shape[1];
    if (predict_output_shapes(2, shape) != THEON_OK) return 1;   /* shape[0] == 2 */
    double probs[2];
    int rc = predict(&pstate, &X[0][0], 2, probs);
    if (rc != THEON_OK) {
        fprintf(stderr, "predict failed: %s\n", theon_strerror(rc));
        return 1;
    }
    printf("predict (%lld rows): [%.8f %.8f]\n", (long long)shape[0], probs[0], probs[1]);
    return 0;
}
