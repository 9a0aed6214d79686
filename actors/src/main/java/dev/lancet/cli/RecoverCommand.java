package dev.lancet.cli;

import dev.lancet.engine.lora.LoraSettings;
import dev.lancet.jobs.RecoverJob;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Recovery fine-tuning with LoRA after pruning (LLM-Pruner's post-training), resumable like prune. */
@Command(name = "recover", mixinStandardHelpOptions = true,
        description = "Fine-tune a (pruned) model with LoRA adapters on the frozen weights: causal-LM loss on text "
                + "windows, AdamW with linear warmup and decay, the validation perplexity measured every --eval-every "
                + "steps, the best adapters merged into the weights (pruned zeros stay zero). --out receives the "
                + "model and recovery-report.json; a killed run continues with --resume.")
final class RecoverCommand implements Callable<Integer> {

    @Option(names = "--model", paramLabel = "DIR", description = "Hugging Face model directory, e.g. a pruned one (default: embedded tiny-llama).")
    Path model = Defaults.model();

    @Option(names = "--data", paramLabel = "FILE", description = "Training text (default: the embedded Brown train slice).")
    Path data = Defaults.calibrationText();

    @Option(names = "--steps", paramLabel = "N", description = "Optimizer steps (default: ${DEFAULT-VALUE}).")
    int steps = 200;

    @Option(names = "--rank", paramLabel = "R", description = "LoRA rank (default: ${DEFAULT-VALUE}).")
    int rank = LoraSettings.DEFAULT_RANK;

    @Option(names = "--alpha", paramLabel = "A", description = "LoRA alpha; the update is (alpha/rank)·B·A (default: ${DEFAULT-VALUE}).")
    double alpha = LoraSettings.DEFAULT_ALPHA;

    @Option(names = "--dropout", paramLabel = "P", description = "Dropout on the adapters' input (default: ${DEFAULT-VALUE}).")
    double dropout = LoraSettings.DEFAULT_DROPOUT;

    @Option(names = "--lr", paramLabel = "LR", description = "Peak learning rate (default: ${DEFAULT-VALUE}, post_training.py's).")
    double lr = 3e-4;

    @Option(names = "--warmup", paramLabel = "N", description = "Warmup steps (default: 100, at most a tenth of --steps).")
    Integer warmup;

    @Option(names = "--batch", paramLabel = "B", description = "Windows per forward/backward (default: ${DEFAULT-VALUE}).")
    int batch = 4;

    @Option(names = "--accumulate", paramLabel = "K", description = "Micro-batches per optimizer step (default: ${DEFAULT-VALUE}).")
    int accumulate = 2;

    @Option(names = "--seqlen", paramLabel = "L", description = "Tokens per training window (default: ${DEFAULT-VALUE}).")
    int seqlen = 128;

    @Option(names = "--eval", paramLabel = "FILE", description = "Validation text (default: the embedded Brown valid split).")
    Path eval = Defaults.evalText();

    @Option(names = "--eval-seqlen", paramLabel = "L", description = "Tokens per validation window (default: ${DEFAULT-VALUE}).")
    int evalSeqlen = 128;

    @Option(names = "--eval-windows", paramLabel = "K",
            description = "Validation windows measured every --eval-every steps (0: all); before training and the final model are measured on all (default: ${DEFAULT-VALUE}).")
    int evalWindows = 64;

    @Option(names = "--eval-every", paramLabel = "N", description = "Steps between validations, each followed by a checkpoint (default: ${DEFAULT-VALUE}).")
    int evalEvery = 50;

    @Option(names = "--seed", paramLabel = "S", description = "Seed of the adapters' init, the dropout and the window order (default: ${DEFAULT-VALUE}).")
    long seed = 0;

    @Option(names = "--out", paramLabel = "DIR", required = true, description = "Output directory.")
    Path out;

    @Option(names = "--resume", description = "Continue a killed run in --out from its last checkpoint.")
    boolean resume;

    @Option(names = "--json", description = "Print one JSON object as the last stdout line.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        LoraSettings defaults = LoraSettings.defaults(seed);
        RecoverJob.Spec spec = new RecoverJob.Spec(model, data, steps,
                new LoraSettings(rank, alpha, dropout, seed, defaults.targets()), lr,
                warmup != null ? warmup : RecoverJob.Spec.defaultWarmup(steps), batch, accumulate, seqlen, eval,
                evalSeqlen, evalWindows, evalEvery, out, resume);
        RecoverJob.Result result = RecoverJob.run(spec, new Progress());
        System.out.println(" step  train ppl  valid ppl");
        for (var e : result.report().get("evaluations")) {
            System.out.printf(Locale.ROOT, "%5d  %9.4f  %9.4f%n", e.get("step").asInt(),
                    e.get("train_perplexity").asDouble(), e.get("perplexity").asDouble());
        }
        System.out.printf(Locale.ROOT, "wrote %s: perplexity %.4f (before %.4f), best step %d, %.0f training tokens/s "
                        + "(%.1f s)%n", result.out(), result.perplexity(), result.perplexityBefore(), result.bestStep(),
                result.tokensPerSecond(), result.seconds());
        if (json) {
            System.out.println(Json.object("perplexity_before", result.perplexityBefore(), "perplexity",
                    result.perplexity(), "best_step", result.bestStep(), "steps", steps,
                    "tokens_per_second", result.tokensPerSecond(), "seconds", result.seconds(),
                    "out", result.out().toString()));
        }
        return 0;
    }
}
