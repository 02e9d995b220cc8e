package ring

import "os"

// fullSize reports whether the exhaustive sweeps run at full size: with
// CELLKIT_FULL=1, as .ci/run's step "exhaustive sweeps" sets it. The
// README's test command (bash .ci/test) runs them smaller; every assertion
// is the same at either size.
func fullSize() bool { return os.Getenv("CELLKIT_FULL") != "" }
