"""Model calls as HoneyHive should see them, whichever instrumentor recorded them: one vocabulary of
names (:mod:`.names`), the LangChain run a provider call belongs to (:mod:`.frameworks`), and the
Bedrock call shapes the Bedrock instrumentor does not follow (:mod:`.bedrock`)."""
