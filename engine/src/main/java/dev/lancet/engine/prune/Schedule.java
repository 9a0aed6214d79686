package dev.lancet.engine.prune;

/**
 * The fraction of weights removed after shot t of T (cumulative, on the way to the final target s).
 * <ul>
 *   <li>{@link #LINEAR}: s_t = s·t/T, the reference's only schedule;</li>
 *   <li>{@link #COSINE}: s_t = s·(1 − cos(π t/T))/2, half a cosine: monotone, 0 at t = 0, s at t = T, with small
 *       steps at both ends, so the last shots, on the most damaged model, remove the least.</li>
 * </ul>
 */
public enum Schedule {
    LINEAR,
    COSINE;

    public double sparsity(int shot, int shots, double target) {
        if (shots < 1 || shot < 0 || shot > shots) {
            throw new IllegalArgumentException("shot " + shot + " of " + shots);
        }
        double progress = (double) shot / shots;
        return switch (this) {
            case LINEAR -> target * progress;
            case COSINE -> shot == shots ? target : target * (1 - Math.cos(Math.PI * progress)) / 2;
        };
    }
}
