package dev.lancet.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.cli.Lancet;
import dev.lancet.engine.Fixtures;
import dev.lancet.engine.curvature.DirectCalibration;
import dev.lancet.engine.curvature.FactorFile;
import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The whole path on shapes the shipped models lack: `lancet synth` writes a GQA Llama with biases (and `lancet edit`
 * shrinks it), `lancet curvature` streams it through the actors, and the factor file equals the direct fp64 loop.
 */
class GqaCurvatureEndToEndTest {

    @TempDir
    Path tmp;

    @Test
    void synthGqaModelCurvatureThroughActorsEqualsDirectLoop() throws Exception {
        Path model = synthGqa();
        KfacState streamed = curvatureThroughActorsEqualsDirectLoop(model);
        assertEquals(14, streamed.factors().size());
        // k/v of a 2-of-6 GQA layer: G is (2·8)², A carries the bias column
        assertEquals(16, streamed.get("model.layers.0.self_attn.k_proj").g().rows());
        assertEquals(49, streamed.get("model.layers.0.self_attn.k_proj").a().rows());
    }

    /** `lancet edit` shrinks the model; curvature streams at the new shapes. */
    @Test
    void shrunkModelCurvatureThroughActorsEqualsDirectLoop() throws Exception {
        Path shrunk = tmp.resolve("shrunk");
        assertEquals(0, Lancet.run("edit", "--model", synthGqa().toString(), "--out", shrunk.toString(),
                "--drop-kv-heads", "0:1", "--drop-heads", "1:0,3", "--drop-channels", "1:0-15"));
        KfacState streamed = curvatureThroughActorsEqualsDirectLoop(shrunk);
        assertEquals(8, streamed.get("model.layers.0.self_attn.k_proj").g().rows());
        assertEquals(24, streamed.get("model.layers.0.self_attn.q_proj").g().rows());
        assertEquals(33, streamed.get("model.layers.1.self_attn.o_proj").a().rows());
        assertEquals(49, streamed.get("model.layers.1.mlp.down_proj").a().rows()); // 48 channels + bias
    }

    private Path synthGqa() throws Exception {
        Path model = tmp.resolve("gqa");
        assertEquals(0, Lancet.run("synth", "--arch", "llama", "--hidden", "48", "--layers", "2", "--heads", "6",
                "--kv-heads", "2", "--intermediate", "64", "--vocab", "4096", "--max-positions", "64", "--bias",
                "--dtype", "F32", "--seed", "3", "--out", model.toString()));
        Files.copy(Fixtures.tinyLlama().resolve("tokenizer.json"), model.resolve("tokenizer.json"));
        return model;
    }

    private KfacState curvatureThroughActorsEqualsDirectLoop(Path model) throws Exception {
        Path factors = tmp.resolve(model.getFileName() + ".factors.safetensors");
        assertEquals(0, Lancet.run("curvature", "--model", model.toString(), "--calibration",
                Fixtures.validText().toString(), "--samples", "5", "--seqlen", "24", "--sampling", "random",
                "--seed", "11", "--precision", "fp64", "--batch", "2", "--out", factors.toString()));

        KfacState direct;
        try (Checkpoint checkpoint = Checkpoint.open(model); Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile());
             Transformer transformer = Transformer.load(checkpoint, DataType.DOUBLE)) {
            CalibrationSource source = CalibrationSource.of(tokenizer, List.of(Fixtures.validText()), 5, 24,
                    CalibrationSource.Sampling.RANDOM, 11);
            direct = KfacState.empty(transformer.layout());
            DirectCalibration.accumulate(transformer, source, 2, Precision.FP64, direct, done -> { });
        }
        KfacState streamed = FactorFile.read(factors);
        assertEquals(direct.factors().size(), streamed.factors().size());
        for (KfacFactor want : direct.factors()) {
            KfacFactor got = streamed.get(want.layer());
            assertEquals(5 * 23, got.tokens());
            assertEquals(want.hasBias(), got.hasBias());
            assertTrue(want.a().sub(got.a()).norm2Number().doubleValue() <= 1e-10 * want.a().norm2Number().doubleValue());
            assertTrue(want.g().sub(got.g()).norm2Number().doubleValue() <= 1e-10 * want.g().norm2Number().doubleValue());
        }
        direct.close();
        return streamed;
    }
}
