-- Each history row also holds the value the write replaced (`previous`), so that the first
-- update of a property no longer looks up and writes the implicit creation entry: that entry
-- is the `previous` of the property's oldest row (when not empty), dated at the record's
-- creation with its creation source. A PATCH of three properties went from twelve history
-- statements to four. Rows written before this version have `previous` NULL: their creation
-- entry, if any, is a row of its own (version 1), and readers take both forms.
ALTER TABLE property_history ADD COLUMN previous TEXT;
