package dev.lancet.engine.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.lancet.engine.FiniteDifferences;
import dev.lancet.engine.Fixtures;
import dev.lancet.engine.io.DType;
import dev.lancet.engine.nn.Backprop;
import dev.lancet.engine.nn.Linear;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Collectors;
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

    private static final int VOCAB = 97;

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
        check(synthetic("llama", 32, 2, 4, 2, true, false, false, 7), VOCAB);
    }

    @Test
    void optWithProjectInOut() {
        check(synthetic("opt", 24, 2, 4, 4, true, true, false, 8), VOCAB);
    }

    @Test
    void tiedLlamaWithoutBiases() {
        check(synthetic("llama", 32, 1, 2, 1, false, true, false, 9), VOCAB);
    }

    @Test
    void llama3RopeScaledLlama() {
        // head_dim 8: wavelengths 6.3, 63, 628, 6283 against an original context of 8 put the first in the
        // interpolated band and divide the others by the factor
        check(ropeScaled("{\"rope_type\": \"llama3\", \"factor\": 4.0, \"low_freq_factor\": 1.0, "
                + "\"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8}"), VOCAB);
    }

    @Test
    void linearRopeScaledLlama() {
        check(ropeScaled("{\"type\": \"linear\", \"factor\": 3.0}"), VOCAB);
    }

    @Test
    void tiedQwen2WithGqa() {
        check(synthetic("qwen2", 32, 2, 4, 2, false, true, false, 10), VOCAB);
    }

    @Test
    void mistral() {
        check(synthetic("mistral", 32, 2, 4, 2, false, false, false, 11), VOCAB);
    }

    @Test
    void postNormOpt() {
        check(synthetic("opt", 32, 2, 4, 4, true, true, true, 12), VOCAB);
    }

    @Test
    void postNormOptWithProjectInOutWithoutBiases() {
        check(synthetic("opt", 24, 2, 4, 4, false, true, true, 13), VOCAB);
    }

    /** A 32-wide synthetic model of {@link #VOCAB} tokens, MLP width 40, weights N(0, 0.2²). */
    private Path synthetic(String arch, int embed, int layers, int heads, int kvHeads, boolean bias, boolean tied,
                           boolean postNorm, long seed) {
        Path dir = tmp.resolve(arch + "-" + seed);
        SyntheticCheckpoint.write(new SyntheticCheckpoint.Spec(arch, VOCAB, 32, embed, layers, heads, kvHeads, 40, 64,
                bias, tied, postNorm, DType.F32, 0.2, seed), dir);
        return dir;
    }

    /** A GQA Llama with biases whose config.json gets {@code rope_scaling}. */
    private Path ropeScaled(String ropeScaling) {
        Path dir = synthetic("llama", 32, 2, 4, 2, true, false, false, 14);
        try {
            ObjectMapper json = new ObjectMapper();
            ObjectNode config = (ObjectNode) json.readTree(dir.resolve(Checkpoint.CONFIG).toFile());
            config.set("rope_scaling", json.readTree(ropeScaling));
            json.writeValue(dir.resolve(Checkpoint.CONFIG).toFile(), config);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return dir;
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
                checked += FiniteDifferences.check(model, tokens, layer.weight(), gradient, random, layer.name() + ".weight",
                        2);
                if (layer.bias() != null) {
                    checked += FiniteDifferences.check(model, tokens, layer.bias(),
                            backprop.gradients().get(layer.name() + ".bias"), random, layer.name() + ".bias", 2);
                }
            }
            assertTrue(checked >= 2 * model.linears().size());
            // the embeddings', norms' and head's gradients (LLM-Pruner's hidden channels read them)
            Map<String, INDArray> parameters = model.parameters();
            for (Map.Entry<String, INDArray> g : backprop.gradients().entrySet()) {
                if (model.linears().stream().noneMatch(l -> g.getKey().startsWith(l.name() + "."))) {
                    checked += FiniteDifferences.check(model, tokens, parameters.get(g.getKey()), g.getValue(), random,
                            g.getKey(), 2);
                }
            }
            // untracked linears (OPT's project_in/out, SliceGPT's shortcuts) are not reported
            assertEquals(parameters.keySet().stream().filter(n -> !n.contains("project_") && !n.contains("shortcut"))
                    .collect(Collectors.toSet()), backprop.gradients().keySet(), "a gradient for every parameter");
        }
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
