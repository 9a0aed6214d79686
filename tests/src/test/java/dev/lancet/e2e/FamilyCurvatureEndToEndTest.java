package dev.lancet.e2e;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.lancet.cli.Lancet;
import dev.lancet.engine.DerivedModel;
import dev.lancet.engine.Fixtures;
import dev.lancet.engine.curvature.DirectCalibration;
import dev.lancet.engine.curvature.FactorFile;
import dev.lancet.engine.curvature.KfacFactor;
import dev.lancet.engine.curvature.KfacState;
import dev.lancet.engine.curvature.Precision;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.ModelConfig;
import dev.lancet.engine.model.ModelLayout;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.nn.Linear;
import dev.lancet.engine.text.CalibrationSource;
import dev.lancet.engine.text.Tokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * The whole path on each family and shape the shipped models lack: `lancet synth` writes the model (or it is
 * derived from a shipped one), `lancet curvature` streams it through the actors, and the factor file equals the
 * direct fp64 loop.
 */
class FamilyCurvatureEndToEndTest {

    @TempDir
    Path tmp;

    static Stream<Arguments> families() {
        return Stream.of(
                synth("llama, GQA 6/2, biases", "--arch", "llama", "--kv-heads", "2", "--bias"),
                synth("qwen2, GQA 6/2, tied", "--arch", "qwen2", "--kv-heads", "2", "--tied"),
                synth("mistral, GQA 6/3", "--arch", "mistral", "--kv-heads", "3"),
                synth("opt, post-norm, project_in/out", "--arch", "opt", "--post-norm", "--embed-dim", "40"),
                Arguments.of("llama3 rope scaling (derived)", (Function<Path, Path>) tmp -> DerivedModel.LLAMA3_ROPE.dir()),
                shrunk("llama, GQA 6/2, biases, shrunk by lancet edit", "--drop-kv-heads", "0:1", "--drop-heads", "1:0,3",
                        "--drop-channels", "1:0-15"));
    }

    /** The GQA Llama with biases, shrunk by `lancet edit {@code editFlags}`: curvature at the new shapes. */
    private static Arguments shrunk(String name, String... editFlags) {
        @SuppressWarnings("unchecked")
        Function<Path, Path> writeDense = (Function<Path, Path>) synth(name, "--arch", "llama", "--kv-heads", "2",
                "--bias").get()[1];
        Function<Path, Path> write = tmp -> {
            Path shrunk = tmp.resolve("shrunk");
            String[] edit = {"edit", "--model", writeDense.apply(tmp).toString(), "--out", shrunk.toString()};
            assertEquals(0, Lancet.run(Stream.concat(Stream.of(edit), Stream.of(editFlags)).toArray(String[]::new)));
            return shrunk;
        };
        return Arguments.of(name, write);
    }

    /** A 2-block, 48-wide, 6-head model of {@code archFlags}, with the embedded tokenizer. */
    private static Arguments synth(String name, String... archFlags) {
        Function<Path, Path> write = tmp -> {
            Path model = tmp.resolve("model");
            String[] shape = {"synth", "--hidden", "48", "--layers", "2", "--heads", "6", "--intermediate", "64",
                    "--vocab", "4096", "--max-positions", "64", "--dtype", "F32", "--seed", "3", "--out", model.toString()};
            assertEquals(0, Lancet.run(Stream.concat(Stream.of(shape), Stream.of(archFlags)).toArray(String[]::new)));
            try {
                Files.copy(Fixtures.tinyLlama().resolve("tokenizer.json"), model.resolve("tokenizer.json"));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            return model;
        };
        return Arguments.of(name, write);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("families")
    void curvatureThroughActorsEqualsDirectLoop(String name, Function<Path, Path> writeModel) throws Exception {
        Path model = writeModel.apply(tmp);
        Path factors = tmp.resolve("factors.safetensors");
        assertEquals(0, Lancet.run("curvature", "--model", model.toString(), "--calibration",
                Fixtures.validText().toString(), "--samples", "5", "--seqlen", "24", "--sampling", "random",
                "--seed", "11", "--precision", "fp64", "--batch", "2", "--out", factors.toString()));

        KfacState direct;
        ModelConfig config;
        ModelLayout layout;
        Linear firstK;
        try (Checkpoint checkpoint = Checkpoint.open(model); Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile())) {
            Transformer transformer = Transformer.load(checkpoint, DataType.DOUBLE);
            config = transformer.config();
            layout = transformer.layout();
            firstK = transformer.blocks().get(0).attention().k();
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
        // the first k projection's G is (kvHeads·headDim)²; its A carries a bias column when the layer has one
        KfacFactor k = streamed.get(firstK.name());
        assertEquals(layout.block(0).kvHeads() * layout.block(0).headDim(), k.g().rows(), k.layer());
        assertEquals(config.hiddenSize() + (config.attentionBias() ? 1 : 0), k.a().rows(), k.layer());
    }
}
