"""Error codes returned by native entry points, shared by every backend and
the runtime. ``err[0]`` is always the index of the failing op in
``func.body.ops``; ``err[1..4]`` are the details listed per code."""

OK = 0
SHAPE_MISMATCH = 1      # broadcast: err[1]=axis (of the result), err[2]=size, err[3]=size expected, err[4]=operand index
INDEX_ERROR = 2         # err[1]=axis, err[2]=index, err[3]=dim size
RESHAPE_ERROR = 3       # err[1]=input size, err[2]=requested product (or -1 when not computable)
MATMUL_MISMATCH = 4     # err[1]=inner size of a, err[2]=inner size of b
EMPTY_REDUCTION = 5     # err[1]=axis
ZERO_STEP = 6           # err[1]=axis
NEGATIVE_SIZE = 7       # err[1]=position, err[2]=size
OUT_OF_MEMORY = 8       # err[1]=bytes requested
DIMSHUFFLE_DROP = 9     # err[1]=input axis, err[2]=its size (must be 1)
CONCAT_MISMATCH = 10    # err[1]=axis, err[2]=size, err[3]=expected, err[4]=operand index
ARANGE_ZERO_STEP = 11
ARANGE_LENGTH = 12      # arange length is NaN (NaN/inf bounds or step)
SCAN_NEGATIVE_STEPS = 13  # scan: err[1]=n_steps
SCAN_SHORT_INPUT = 14   # scan: err[1]=operand index, err[2]=its rows, err[3]=rows needed
SCAN_STEP_SHAPE = 15    # scan: err[1]=output index, err[2]=axis of a row, err[3]=size, err[4]=size expected
INT_NEGATIVE_POWER = 16  # integer ** negative integer (NumPy refuses it too)
ADV_INDEX_ERROR = 17    # advanced indexing: err[1]=axis of x, err[2]=index, err[3]=dim size, err[4]=index operand
MASK_MISMATCH = 18      # boolean mask: err[1]=axis, err[2]=mask size, err[3]=size of the indexed dim
PROBABILITY_ERROR = 50  # random sampling: bad probabilities; err[1..4] as ir/ops/random.py probability_error reads them
NEGATIVE_VALUE = 30     # bincount: a negative value: err[1]=position, err[2]=the value
INDEX_RANGE = 31        # check_index: err[1]=position (C order), err[2]=the index, err[3]=the size
POOL_WINDOW = 23        # pool, ignore_border: err[1]=axis of the input, err[2]=its size + 2*pad, err[3]=ws
NEIBS_COVER = 24        # neibs_check (images2neibs 'valid'): err[1]=axis, err[2]=its size, err[3]=neib_shape, err[4]=neib_step
CONV_CHANNELS = 40      # conv: err[1]=input channels, err[2]=channels the filters expect, err[3]=filters.shape[1], err[4]=groups
CONV_GROUPS = 41        # conv: err[1]=output channels, err[2]=groups (must divide them)
CONV_SIZE = 42          # conv: err[1]=spatial dim, err[2]=padded input size, err[3]=dilated filter size, err[4]=filter size
CONV_SHAPE = 43         # conv gradients: err[1]=axis of the output gradient, err[2]=its size, err[3]=size expected
LINALG_SHAPE = 44       # linalg: err[1]=operand, err[2]=dim, err[3]=its size, err[4]=size expected
LINALG_NOT_PD = 45      # cholesky: err[1]=batch element (C order), err[2]=order of the leading minor that is not positive definite
LINALG_SINGULAR = 46    # solve/inverse/solve_triangular: err[1]=batch element (C order), err[2]=the zero pivot's index
LINALG_COMPLEX = 47     # eig: err[1]=batch element (C order), err[2]=index of a complex conjugate pair of eigenvalues
LINALG_NO_CONVERGENCE = 48  # eig: err[1]=batch element (C order) that did not converge (or holds infs/NaNs)

NAMES = {
    SHAPE_MISMATCH: "shape mismatch",
    INDEX_ERROR: "index out of bounds",
    RESHAPE_ERROR: "cannot reshape",
    MATMUL_MISMATCH: "matrix product shape mismatch",
    EMPTY_REDUCTION: "reduction of an empty axis without identity",
    ZERO_STEP: "slice step cannot be zero",
    NEGATIVE_SIZE: "negative dimension",
    OUT_OF_MEMORY: "out of memory",
    DIMSHUFFLE_DROP: "dimshuffle drops a dim that is not 1",
    CONCAT_MISMATCH: "concatenate: sizes differ",
    ARANGE_ZERO_STEP: "arange step cannot be zero",
    ARANGE_LENGTH: "arange: cannot compute length",
    SCAN_NEGATIVE_STEPS: "scan: n_steps is negative",
    SCAN_SHORT_INPUT: "scan: a sequence (or initial state) has fewer rows than the steps and taps need",
    SCAN_STEP_SHAPE: "scan: the step function returned an output whose shape differs from its state's",
    INT_NEGATIVE_POWER: "Integers to negative integer powers are not allowed",
    ADV_INDEX_ERROR: "index out of bounds (advanced indexing)",
    MASK_MISMATCH: "boolean index did not match indexed array",
    PROBABILITY_ERROR: "probabilities of a random draw outside [0, 1] or not summing to 1",
    CONV_CHANNELS: "conv: channel mismatch between input and filters",
    CONV_GROUPS: "conv: output channels not a multiple of num_groups",
    CONV_SIZE: "conv: filter larger than the padded input",
    CONV_SHAPE: "conv gradient: output gradient has the wrong shape",
    LINALG_SHAPE: "linalg: operand shapes do not match",
    LINALG_NOT_PD: "matrix is not positive definite",
    LINALG_SINGULAR: "singular matrix",
    LINALG_COMPLEX: "eig: complex eigenvalues (theon has no complex dtype)",
    LINALG_NO_CONVERGENCE: "eigenvalues did not converge",
    NEGATIVE_VALUE: "a value that must be non-negative is negative",
    INDEX_RANGE: "index out of range",
    POOL_WINDOW: "pool: window larger than the (padded) input with ignore_border=True",
    NEIBS_COVER: "images2neibs: the patches do not cover the images exactly in mode 'valid'",
}
