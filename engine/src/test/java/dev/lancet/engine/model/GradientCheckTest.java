package dev.lancet.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.engine.Fixtures;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.nn.Backprop;
import dev.lancet.engine.nn.Linear;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The hand-written backward against central finite differences of the fp64 loss, on a few entries of
 * every linear layer (weights and biases) of every block, for each architecture variant.
 */
class GradientCheckTest {

    @TempDir
    Path tmp;

    @Test
    void tinyLlama() {
        check(Fixtures.tinyLlama(), 4096);
    }

    @Test
    void tinyOpt() {
        check(Fixtures.tinyOpt(), 4096);
    }

    @Test
    void llamaWithGqaAndBiases() {
        Path dir = tmp.resolve("gqa");
        SyntheticCheckpoint.write(new SyntheticCheckpoint.Spec("llama", 97, 32, 32, 2, 4, 2, 40, 64, true, false,
                DType.F32, 0.2, 7), dir);
        check(dir, 97);
    }

    @Test
    void optWithProjectInOut() {
        Path dir = tmp.resolve("proj");
        SyntheticCheckpoint.write(new SyntheticCheckpoint.Spec("opt", 97, 32, 24, 2, 4, 4, 40, 64, true, true,
                DType.F32, 0.2, 8), dir);
        check(dir, 97);
    }

    @Test
    void tiedLlamaWithoutBiases() {
        Path dir = tmp.resolve("tied");
        SyntheticCheckpoint.write(new SyntheticCheckpoint.Spec("llama", 97, 32, 32, 1, 2, 1, 40, 64, false, true,
                DType.F32, 0.2, 9), dir);
        check(dir, 97);
    }

    /** Also used on edited models, whose shapes no shipped checkpoint has. */
    static void check(Path modelDir, int vocab) {
        try (Checkpoint checkpoint = Checkpoint.open(modelDir)) {
            Transformer model = Transformer.load(checkpoint, DataType.DOUBLE);
            SplittableRandom random = new SplittableRandom(42);
            int batch = 2;
            int seq = 9;
            int[] ids = random.ints(batch * seq, 0, vocab).toArray();
            TokenBatch tokens = new TokenBatch(batch, seq, ids);

            Map<String, INDArray> tapGradients = new HashMap<>();
            Backprop backprop = new Backprop(true, (layer, a, g) -> {
                assertEquals(tokens.labelledTokens(), a.rows());
                assertEquals(tokens.labelledTokens(), g.rows());
                tapGradients.put(layer.name(), g.transpose().mmul(a).detach());
            }, tokens.labelledRows());
            Loss loss = model.lossAndBackward(tokens, backprop);
            assertEquals(model.loss(tokens).nllSum(), loss.nllSum(), 1e-9 * Math.abs(loss.nllSum()));

            int checked = 0;
            for (Linear layer : model.linears()) {
                INDArray gradient = backprop.gradients().get(layer.name() + ".weight");
                // Σ gᵀa over labelled rows is the weight gradient: the stream carries exactly what KFAC needs
                assertTrue(tapGradients.get(layer.name()).equalsWithEps(gradient, 1e-10), layer.name());
                checked += checkEntries(model, tokens, layer.weight(), gradient, random, layer.name() + ".weight");
                if (layer.bias() != null) {
                    checked += checkEntries(model, tokens, layer.bias(), backprop.gradients().get(layer.name() + ".bias"),
                            random, layer.name() + ".bias");
                }
            }
            assertTrue(checked >= 2 * model.linears().size());
        }
    }

    private static int checkEntries(Transformer model, TokenBatch tokens, INDArray parameter, INDArray gradient,
                                    SplittableRandom random, String name) {
        INDArray flat = parameter.reshape(parameter.length());
        INDArray flatGradient = gradient.reshape(gradient.length());
        double eps = 1e-5;
        for (int k = 0; k < 2; k++) {
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
        return 2;
    }

    @Test
    void fp64BlasIsCorrect() {
        // OpenBLAS 0.3.19's Cooperlake kernels return wrong DGEMM on these CPUs; guard against a regression.
        INDArray a = Nd4j.rand(DataType.DOUBLE, 512, 512);
        INDArray b = Nd4j.rand(DataType.DOUBLE, 512, 512);
        INDArray c = a.mmul(b);
        double[][] x = a.toDoubleMatrix();
        double[][] y = b.toDoubleMatrix();
        for (int i = 0; i < 512; i += 97) {
            for (int j = 0; j < 512; j += 89) {
                double naive = 0;
                for (int k = 0; k < 512; k++) {
                    naive += x[i][k] * y[k][j];
                }
                assertEquals(naive, c.getDouble(i, j), 1e-10 * Math.abs(naive));
            }
        }
    }
}
