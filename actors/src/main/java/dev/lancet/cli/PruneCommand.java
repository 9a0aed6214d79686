package dev.lancet.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.lancet.actors.cluster.ClusterNode;
import dev.lancet.actors.cluster.ClusterSolver;
import dev.lancet.jobs.PruneJob;
import dev.lancet.jobs.SliceJob;
import java.time.Duration;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** Multi-shot pruning: LLM Surgeon, the baselines it is compared with, and LLM-Pruner; SliceGPT through the same flags. */
@Command(name = "prune", mixinStandardHelpOptions = true,
        description = "Prune a model in shots. Each shot refreshes the KFAC curvature of the current model, sets one "
                + "threshold on the removal costs of the whole model so that the schedule's fraction of decoder linear "
                + "weights is gone, removes and corrects, evaluates, and saves a checkpoint that --resume continues "
                + "from. --method llm-pruner instead scores coupled groups (heads, MLP channels) by calibration gradients "
                + "and removes the same share of every block in --layers. The output directory holds the pruned model "
                + "(loadable by every lancet command), "
                + "pruning-report.json and pruning.png. Output is byte-identical for the same inputs and seed. "
                + "--method slicegpt instead slices the residual stream in one shot: --target is the fraction of the "
                + "hidden width removed, and --structure, --shots, --schedule, --damp-*, --max-correlate, --workers, "
                + "--eval-windows and --export do not apply.")
final class PruneCommand implements Callable<Integer> {

    /** How long a cluster job waits for its worker members. */
    private static final Duration WORKERS_TIMEOUT = Duration.ofMinutes(2);

    @Mixin
    PruneOptions options;

    @Option(names = "--json", description = "Print one JSON object as the last stdout line.")
    boolean json;

    @Mixin
    ClusterOptions cluster;

    @Option(names = "--min-workers", paramLabel = "N", description = "With --cluster: worker members that must be up "
            + "before the first shot (default: ${DEFAULT-VALUE}).")
    int minWorkers = 1;

    @Override
    public Integer call() throws Exception {
        PruneOptions job = options.withJobFile();
        PruneJob.Result result = cluster.enabled() ? onCluster(job)
                : job.slices() ? SliceJob.run(job.toSliceSpec(job.defaultOut()), new Progress())
                : PruneJob.run(job.toSpec(job.defaultOut()), new Progress());
        printTable(result.report());
        System.out.printf(Locale.ROOT, "wrote %s: perplexity %.4f (dense %.4f), %,d parameters left of %,d (%.1f s)%n",
                result.out(), result.perplexity(), result.densePerplexity(), result.paramsAfter(), result.paramsBefore(),
                result.seconds());
        if (json) {
            System.out.println(Json.object("dense_perplexity", result.densePerplexity(), "perplexity", result.perplexity(),
                    "params_before", result.paramsBefore(), "params_after", result.paramsAfter(),
                    "seconds", result.seconds(), "out", result.out().toString()));
        }
        return 0;
    }

    /** Joins the cluster as the job's coordinator; the shots' workers run on the worker members. */
    private PruneJob.Result onCluster(PruneOptions job) throws Exception {
        if (job.slices() || job.llmPruner()) {
            throw new IllegalArgumentException("--cluster spreads the shots' threshold solve over worker members; "
                    + "slicegpt and llm-pruner have none");
        }
        PruneJob.Spec spec = job.toSpec(job.defaultOut());
        if (minWorkers < 1) {
            throw new IllegalArgumentException("--min-workers must be at least 1, got " + minWorkers);
        }
        try (ClusterNode node = cluster.start(ClusterNode.COORDINATOR_ROLE, 0)) {
            if (!node.awaitWorkers(minWorkers, WORKERS_TIMEOUT)) {
                throw new IllegalArgumentException(node.workersUp() + " of --min-workers " + minWorkers + " worker "
                        + "members joined within " + WORKERS_TIMEOUT.toSeconds() + " s (start them with `lancet node`)");
            }
            return PruneJob.run(spec, new Progress(), new ClusterSolver(node));
        }
    }

    private static void printTable(JsonNode report) {
        System.out.println(" shot  target  removed  perplexity  calibration  solve  evaluation");
        for (JsonNode s : report.get("shots")) {
            JsonNode seconds = s.get("seconds");
            System.out.printf(Locale.ROOT, "%5d  %5.1f%%  %6.1f%%  %10.4f  %10.1fs  %4.1fs  %9.1fs%n",
                    s.get("shot").asInt(), 100 * s.get("target").asDouble(), 100 * s.get("achieved").asDouble(),
                    s.get("perplexity").asDouble(), seconds.get("calibration").asDouble(),
                    seconds.get("solve").asDouble(), seconds.get("evaluation").asDouble());
        }
    }
}
