"""A LangChain retrieval chat behind API Gateway, with no tracing code: ``langchain-aws``'s
``BedrockEmbeddings`` index a few documents in LangChain's in-memory vector store on the first request
(as an app loads its index on first use), and each request's question is embedded, the nearest
document retrieved and ``ChatBedrock`` asked, in one LCEL chain. The endpoint comes from
``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` (a fake Bedrock on loopback).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from langchain_aws import BedrockEmbeddings, ChatBedrock
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from langchain_core.vectorstores import InMemoryVectorStore

DOCUMENTS = ["Llamas are camelids.", "Bedrock serves foundation models.", "Lambda runs functions."]

embeddings = BedrockEmbeddings(model_id="amazon.titan-embed-text-v1", region_name="us-east-1")
prompt = ChatPromptTemplate.from_messages([("system", "Answer from: {context}"), ("user", "{question}")])
llm = ChatBedrock(model="anthropic.claude-3-sonnet-20240229-v1:0", region="us-east-1")


def _joined(documents: list[Document]) -> str:
    return "\n".join(document.page_content for document in documents)


@cache
def _chain() -> Any:
    store = InMemoryVectorStore(embeddings)
    store.add_documents([Document(page_content=text) for text in DOCUMENTS])
    retriever = store.as_retriever(search_kwargs={"k": 1})
    return {"context": retriever | _joined, "question": RunnablePassthrough()} | prompt | llm | StrOutputParser()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    question = json.loads(event.get("body") or "{}").get("question", "What is a llama?")
    return {"statusCode": 200, "body": json.dumps({"answer": _chain().invoke(question)})}
