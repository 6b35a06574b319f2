/*
 * Writes to dynamic-bucket tables (bucket = -1) the way Paimon's own jobs do: the bridge's
 * writer cannot pick a bucket in that mode, so each row's bucket comes from Paimon's
 * HashBucketAssigner (one assigner, as one writer), fed the trimmed primary key's hash.
 */
package shoal.oracle;

import org.apache.paimon.catalog.Catalog;
import org.apache.paimon.catalog.CatalogContext;
import org.apache.paimon.catalog.CatalogFactory;
import org.apache.paimon.catalog.Identifier;
import org.apache.paimon.data.GenericRow;
import org.apache.paimon.disk.IOManager;
import org.apache.paimon.index.HashBucketAssigner;
import org.apache.paimon.options.Options;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.paimon.shade.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.paimon.table.FileStoreTable;
import org.apache.paimon.table.sink.BatchTableCommit;
import org.apache.paimon.table.sink.BatchTableWrite;
import org.apache.paimon.table.sink.BatchWriteBuilder;
import org.apache.paimon.table.sink.DynamicBucketRowKeyExtractor;
import org.apache.paimon.types.DataField;
import org.apache.paimon.types.RowKind;

import java.util.List;
import java.util.UUID;

public class DynamicBucketOracle {
    private static final ObjectMapper MAPPER = new ObjectMapper();

    /**
     * One batch write + commit of rowsJson (a JSON array of objects keyed by column name, with
     * optional "_row_kind") to warehouse/db.db/name, whose bucket option is -1. Returns
     * "bucket per row" as a JSON array, in input order.
     */
    public static String write(
            String warehouse, String db, String name, String rowsJson, String ioTmpDir)
            throws Exception {
        Options o = new Options();
        o.set("warehouse", warehouse);
        Catalog catalog = CatalogFactory.createCatalog(CatalogContext.create(o));
        FileStoreTable table = (FileStoreTable) catalog.getTable(Identifier.create(db, name));
        List<DataField> fields = table.rowType().getFields();
        String user = UUID.randomUUID().toString();
        HashBucketAssigner assigner =
                new HashBucketAssigner(
                        table.snapshotManager(),
                        user,
                        table.store().newIndexFileHandler(),
                        1,
                        1,
                        0,
                        table.coreOptions().dynamicBucketTargetRowNum());
        DynamicBucketRowKeyExtractor extractor = new DynamicBucketRowKeyExtractor(table.schema());
        BatchWriteBuilder builder = table.newBatchWriteBuilder();
        IOManager io = IOManager.create(ioTmpDir);
        BatchTableWrite write = (BatchTableWrite) builder.newWrite().withIOManager(io);
        StringBuilder buckets = new StringBuilder("[");
        try {
            for (JsonNode obj : MAPPER.readTree(rowsJson)) {
                RowKind kind = RowKind.INSERT;
                JsonNode k = obj.get("_row_kind");
                if (k != null && !k.isNull()) {
                    kind = RowKind.fromShortString(k.asText());
                }
                GenericRow row = new GenericRow(kind, fields.size());
                for (int i = 0; i < fields.size(); i++) {
                    DataField f = fields.get(i);
                    row.setField(i, ShoalOracle.toInternal(f.type(), obj.get(f.name())));
                }
                extractor.setRecord(row);
                int bucket =
                        assigner.assign(
                                extractor.partition(), extractor.trimmedPrimaryKey().hashCode());
                write.write(row, bucket);
                buckets.append(buckets.length() > 1 ? "," : "").append(bucket);
            }
            assigner.prepareCommit(BatchWriteBuilder.COMMIT_IDENTIFIER);
            try (BatchTableCommit commit = builder.newCommit()) {
                commit.commit(write.prepareCommit());
            }
        } finally {
            write.close();
            io.close();
        }
        return buckets.append("]").toString();
    }
}
