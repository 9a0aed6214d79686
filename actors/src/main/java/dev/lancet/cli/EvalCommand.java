package dev.lancet.cli;

import dev.lancet.engine.eval.Perplexity;
import dev.lancet.engine.io.CheckpointException;
import dev.lancet.engine.model.Checkpoint;
import dev.lancet.engine.model.Loss;
import dev.lancet.engine.model.Transformer;
import dev.lancet.engine.text.TextFiles;
import dev.lancet.engine.text.Tokenizer;
import dev.lancet.engine.text.Windows;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import org.nd4j.linalg.api.buffer.DataType;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Perplexity of a model on a text file, by the protocol of LLM Surgeon, SliceGPT and SparseGPT. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = {"Perplexity over non-overlapping windows: the whole file is tokenized, cut into windows of",
                "--seqlen tokens (remainder dropped), and positions 1..N-1 of each window are scored given",
                "the prefix inside the window; perplexity = exp(mean NLL)."})
final class EvalCommand implements Callable<Integer> {

    @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face model directory (default: embedded tiny-llama).")
    Path model = Defaults.model();

    @Option(names = "--data", paramLabel = "FILE", description = "UTF-8 text file (default: embedded Brown valid split).")
    Path data = Defaults.evalText();

    @Option(names = "--seqlen", paramLabel = "N", description = "Window length in tokens (default: ${DEFAULT-VALUE}).")
    int seqlen = 128;

    @Option(names = "--max-windows", paramLabel = "K", description = "Evaluate at most K windows (default: all).")
    int maxWindows = 0;

    @Option(names = "--batch", paramLabel = "B", description = "Windows per forward pass (default: ${DEFAULT-VALUE}).")
    int batch = 8;

    @Option(names = "--fp64", description = "Compute in fp64 instead of fp32 (slow; for checking numbers).")
    boolean fp64;

    @Option(names = "--json", description = "Print one JSON object as the last stdout line.")
    boolean json;

    @Override
    public Integer call() {
        if (seqlen < 2) {
            throw new IllegalArgumentException("--seqlen must be at least 2, got " + seqlen);
        }
        if (batch < 1 || maxWindows < 0) {
            throw new IllegalArgumentException("--batch must be >= 1 and --max-windows >= 0");
        }
        long start = System.nanoTime();
        try (Checkpoint checkpoint = Checkpoint.open(model);
             Tokenizer tokenizer = Tokenizer.load(checkpoint.tokenizerFile())) {
            checkpoint.requirePositions(seqlen, "--seqlen");
            int[] tokens = tokenizer.encode(TextFiles.readUtf8(data));
            Windows windows = Windows.of(tokens, seqlen, maxWindows);
            if (windows.count() == 0) {
                throw new CheckpointException(data, "only " + tokens.length + " tokens, shorter than one window of "
                        + seqlen);
            }
            Transformer transformer = Transformer.load(checkpoint, fp64 ? DataType.DOUBLE : DataType.FLOAT);
            Loss loss = Perplexity.evaluate(transformer, windows, batch, new Progress("windows", windows.count()));
            double seconds = (System.nanoTime() - start) / 1e9;
            System.out.printf(Locale.ROOT, "perplexity %.4f over %d tokens in %d windows of %d (%.1f s)%n",
                    loss.perplexity(), loss.tokens(), windows.count(), seqlen, seconds);
            if (json) {
                System.out.println(Json.object("perplexity", loss.perplexity(), "tokens", loss.tokens(),
                        "windows", windows.count(), "seqlen", seqlen, "seconds", seconds,
                        "tokens_per_second", windows.count() * (double) seqlen / seconds,
                        "model", model.toString(), "data", data.toString()));
            }
            return 0;
        }
    }
}
