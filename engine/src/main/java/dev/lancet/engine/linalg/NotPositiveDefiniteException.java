package dev.lancet.engine.linalg;

/**
 * A matrix that should be symmetric positive definite is not (LAPACK's Cholesky met a leading minor that is not
 * positive): a singular or indefinite curvature factor whose damping is too small to rescue it.
 */
public final class NotPositiveDefiniteException extends ArithmeticException {

    public NotPositiveDefiniteException(String message) {
        super(message);
    }
}
