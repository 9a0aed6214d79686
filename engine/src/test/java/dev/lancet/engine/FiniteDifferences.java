package dev.lancet.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.lancet.engine.model.TokenBatch;
import dev.lancet.engine.model.Transformer;
import java.util.SplittableRandom;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Central finite differences of a model's fp64 summed loss, against an analytic gradient. */
public final class FiniteDifferences {

    private FiniteDifferences() {
    }

    /**
     * Checks {@code entries} random entries of {@code gradient} = d(Σ NLL)/d{@code parameter}, perturbing the
     * parameter in place (and restoring it); returns the number checked.
     */
    public static int check(Transformer model, TokenBatch tokens, INDArray parameter, INDArray gradient,
                            SplittableRandom random, String name, int entries) {
        INDArray flat = parameter.reshape(parameter.length());
        INDArray flatGradient = gradient.reshape(gradient.length());
        double eps = 1e-5;
        for (int k = 0; k < entries; k++) {
            long i = random.nextLong(parameter.length());
            double original = flat.getDouble(i);
            flat.putScalar(i, original + eps);
            double up = model.loss(tokens).nllSum();
            flat.putScalar(i, original - eps);
            double down = model.loss(tokens).nllSum();
            flat.putScalar(i, original);
            double numeric = (up - down) / (2 * eps);
            double analytic = flatGradient.getDouble(i);
            assertEquals(numeric, analytic, 1e-7 + 1e-5 * Math.abs(numeric), name + "[" + i + "]");
        }
        return entries;
    }
}
