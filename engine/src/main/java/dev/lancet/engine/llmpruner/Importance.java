package dev.lancet.engine.llmpruner;

/**
 * How LLM-Pruner prices one member of a group (its rows or columns in one layer, bias entries of rows included),
 * with W the weights, g the gradient of the mean next-token loss and F the Fisher diagonal (1/N) Σₙ gₙ² of the
 * calibration windows' own mean losses:
 * <ul>
 *   <li>{@link #ELEMENT1}: Σ |W⊙g|, first-order Taylor per weight (the paper's Element¹, the reference's
 *       {@code param_first});</li>
 *   <li>{@link #ELEMENT2}: Σ |W⊙g − ½ W⊙F⊙W| (Element², {@code param_mix}; the reference subtracts the Hessian term,
 *       as its maintainer confirms);</li>
 *   <li>{@link #VECTOR}: |Σ W⊙g|, first-order Taylor of the member as one vector (the paper's Eq. 3);</li>
 *   <li>{@link #L2}: Σ W², magnitude;</li>
 *   <li>{@link #RANDOM}: a seeded uniform draw per group.</li>
 * </ul>
 */
public enum Importance {
    ELEMENT1, ELEMENT2, VECTOR, L2, RANDOM;

    /** Whether the scores need the calibration gradient. */
    public boolean needsGradients() {
        return this == ELEMENT1 || this == ELEMENT2 || this == VECTOR;
    }

    /** Whether the scores need per-window squared gradients. */
    public boolean needsFisher() {
        return this == ELEMENT2;
    }
}
