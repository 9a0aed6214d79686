package dev.lancet.cli;

import dev.lancet.jobs.EvalJob;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code lancet eval}: the flags of an {@link EvalJob} and its result, as text or JSON. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Perplexity over non-overlapping windows: the whole file is tokenized, cut into windows of "
                + "--seqlen tokens (remainder dropped), and positions 1..N-1 of each window are scored given the "
                + "prefix inside the window; perplexity = exp(mean NLL).")
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
        EvalJob.Result result = EvalJob.run(new EvalJob.Spec(model, data, seqlen, maxWindows, batch, fp64), new Progress());
        System.out.printf(Locale.ROOT, "perplexity %.4f over %d tokens in %d windows of %d (%.1f s)%n",
                result.perplexity(), result.tokens(), result.windows(), result.seqlen(), result.seconds());
        if (json) {
            System.out.println(Json.object("perplexity", result.perplexity(), "tokens", result.tokens(),
                    "windows", result.windows(), "seqlen", result.seqlen(), "seconds", result.seconds(),
                    "tokens_per_second", result.tokensPerSecond(), "model", model.toString(), "data", data.toString()));
        }
        return 0;
    }
}
