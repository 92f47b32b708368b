<?xml version="1.0" encoding="UTF-8"?>
<!--
  Lifecare -> Cosmic Link for the admission notice and the SIP plan, in XSLT
  1.0 with EXSLT dates (libxslt): the baseline samgate's Rust translation is
  measured against (benches/README.md). Covers what those two messages use;
  no validation, as an XSLT mapping in an integration engine typically has.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:lc="urn:lifecare:sp:meddelande:2"
    xmlns:cl="urn:cambio:cosmiclink:coordination:3"
    xmlns:date="http://exslt.org/dates-and-times"
    extension-element-prefixes="date"
    exclude-result-prefixes="lc date">

  <xsl:output method="xml" encoding="UTF-8"/>

  <!-- Swedish local time (no offset) to UTC: summer time from the last
       Sunday of March 02:00 to the last Sunday of October 03:00. -->
  <xsl:template name="utc">
    <xsl:param name="local"/>
    <xsl:variable name="y" select="substring($local, 1, 4)"/>
    <xsl:variable name="m" select="number(substring($local, 6, 2))"/>
    <xsl:variable name="d" select="number(substring($local, 9, 2))"/>
    <xsl:variable name="h" select="number(substring($local, 12, 2))"/>
    <xsl:variable name="march" select="31 - (date:day-in-week(concat($y, '-03-31')) - 1)"/>
    <xsl:variable name="october" select="31 - (date:day-in-week(concat($y, '-10-31')) - 1)"/>
    <xsl:variable name="summer" select="($m &gt; 3 and $m &lt; 10)
        or ($m = 3 and ($d &gt; $march or ($d = $march and $h &gt;= 3)))
        or ($m = 10 and ($d &lt; $october or ($d = $october and $h &lt; 3)))"/>
    <xsl:variable name="shifted">
      <xsl:choose>
        <xsl:when test="$summer"><xsl:value-of select="date:add(substring($local, 1, 19), '-PT2H')"/></xsl:when>
        <xsl:otherwise><xsl:value-of select="date:add(substring($local, 1, 19), '-PT1H')"/></xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <!-- libxslt's date:add writes the result with a Z already. -->
    <xsl:value-of select="$shifted"/>
  </xsl:template>

  <xsl:template name="unit-type">
    <xsl:param name="typ"/>
    <xsl:choose>
      <xsl:when test="$typ = 'Sjukhus'">HOSPITAL</xsl:when>
      <xsl:when test="$typ = 'Vardcentral'">PRIMARY_CARE</xsl:when>
      <xsl:when test="$typ = 'KommunalHSL'">MUNICIPALITY_HEALTH</xsl:when>
      <xsl:when test="$typ = 'Socialtjanst'">SOCIAL_SERVICES</xsl:when>
      <xsl:when test="$typ = 'Psykiatri'">PSYCHIATRY</xsl:when>
      <xsl:when test="$typ = 'Skola'">SCHOOL</xsl:when>
      <xsl:otherwise>OTHER</xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template match="/lc:Meddelande">
    <cl:Message schemaVersion="3.1">
      <cl:Header>
        <cl:MessageId><xsl:value-of select="@meddelandeId"/></cl:MessageId>
        <cl:MessageType>
          <xsl:choose>
            <xsl:when test="@typ = 'Inskrivningsmeddelande'">ADMISSION_NOTICE</xsl:when>
            <xsl:when test="@typ = 'SIP'">SIP_PLAN</xsl:when>
          </xsl:choose>
        </cl:MessageType>
        <cl:SentAt><xsl:call-template name="utc"><xsl:with-param name="local" select="@skapad"/></xsl:call-template></cl:SentAt>
        <cl:Sender hsaId="{lc:Avsandare/@hsaId}">
          <xsl:attribute name="unitType"><xsl:call-template name="unit-type"><xsl:with-param name="typ" select="lc:Avsandare/@typ"/></xsl:call-template></xsl:attribute>
          <cl:Name><xsl:value-of select="normalize-space(lc:Avsandare)"/></cl:Name>
        </cl:Sender>
      </cl:Header>
      <cl:Case caseId="{lc:Arende/@arendeId}">
        <xsl:attribute name="flow">
          <xsl:choose>
            <xsl:when test="lc:Arende/@process = 'Slutenvard'">INPATIENT</xsl:when>
            <xsl:when test="lc:Arende/@process = 'Oppenvard'">OUTPATIENT</xsl:when>
            <xsl:otherwise>LPT_LRV</xsl:otherwise>
          </xsl:choose>
        </xsl:attribute>
        <xsl:apply-templates select="lc:Patient"/>
        <cl:Content>
          <xsl:apply-templates select="lc:Inskrivning | lc:SIP"/>
        </cl:Content>
      </cl:Case>
    </cl:Message>
  </xsl:template>

  <xsl:template match="lc:Patient">
    <cl:Person>
      <cl:PersonId>
        <xsl:attribute name="type">
          <xsl:choose>
            <xsl:when test="@idtyp = 'samordningsnummer'">SNR</xsl:when>
            <xsl:when test="@idtyp = 'reservnummer'">RNR</xsl:when>
            <xsl:otherwise>PNR</xsl:otherwise>
          </xsl:choose>
        </xsl:attribute>
        <xsl:choose>
          <xsl:when test="@idtyp = 'reservnummer'"><xsl:value-of select="@id"/></xsl:when>
          <xsl:otherwise><xsl:value-of select="concat(substring(@id, 1, 8), '-', substring(@id, 9, 4))"/></xsl:otherwise>
        </xsl:choose>
      </cl:PersonId>
      <cl:Protected><xsl:value-of select="@skyddad = 'ja'"/></cl:Protected>
      <xsl:if test="lc:Fornamn"><cl:GivenName><xsl:value-of select="normalize-space(lc:Fornamn)"/></cl:GivenName></xsl:if>
      <xsl:if test="lc:Efternamn"><cl:FamilyName><xsl:value-of select="normalize-space(lc:Efternamn)"/></cl:FamilyName></xsl:if>
      <xsl:if test="lc:Kommun"><cl:MunicipalityCode><xsl:value-of select="normalize-space(lc:Kommun)"/></cl:MunicipalityCode></xsl:if>
      <xsl:if test="lc:ListadVardcentral"><cl:ListedUnit hsaId="{lc:ListadVardcentral/@hsaId}"/></xsl:if>
    </cl:Person>
  </xsl:template>

  <xsl:template match="lc:Inskrivning">
    <cl:Admission>
      <cl:AdmittedAt><xsl:call-template name="utc"><xsl:with-param name="local" select="normalize-space(lc:Tid)"/></xsl:call-template></cl:AdmittedAt>
      <xsl:if test="lc:Orsak"><cl:Cause><xsl:value-of select="normalize-space(lc:Orsak)"/></cl:Cause></xsl:if>
      <xsl:if test="lc:BeraknadUtskrivning"><cl:EstimatedDischarge><xsl:value-of select="normalize-space(lc:BeraknadUtskrivning)"/></cl:EstimatedDischarge></xsl:if>
      <xsl:if test="lc:Boende">
        <cl:Housing>
          <xsl:choose>
            <xsl:when test="lc:Boende = 'Ordinärt boende'">ORDINARY</xsl:when>
            <xsl:when test="lc:Boende = 'Särskilt boende'">SPECIAL</xsl:when>
            <xsl:when test="lc:Boende = 'Korttidsboende'">SHORT_TERM</xsl:when>
            <xsl:otherwise>OTHER</xsl:otherwise>
          </xsl:choose>
        </cl:Housing>
      </xsl:if>
      <xsl:if test="lc:BedomdaBehov"><cl:NeedsAssessment><xsl:value-of select="normalize-space(lc:BedomdaBehov)"/></cl:NeedsAssessment></xsl:if>
    </cl:Admission>
  </xsl:template>

  <xsl:template match="lc:SIP">
    <cl:Plan planType="SIP" revision="{@version}">
      <xsl:for-each select="lc:Mal">
        <cl:Goal>
          <cl:Text><xsl:value-of select="normalize-space(lc:Malbeskrivning)"/></cl:Text>
          <xsl:for-each select="lc:Delmal"><cl:SubGoal><xsl:value-of select="normalize-space(.)"/></cl:SubGoal></xsl:for-each>
        </cl:Goal>
      </xsl:for-each>
      <xsl:if test="lc:PersonensForvantningar"><cl:PersonExpectations><xsl:value-of select="normalize-space(lc:PersonensForvantningar)"/></cl:PersonExpectations></xsl:if>
      <xsl:for-each select="lc:Insatser/lc:Insats">
        <cl:Activity responsibleHsaId="{@ansvarigHsaId}" responsibleName="{@ansvarig}"><xsl:value-of select="normalize-space(.)"/></cl:Activity>
      </xsl:for-each>
      <xsl:for-each select="lc:AndrasAtgarder/lc:Atgard"><cl:ExternalMeasure><xsl:value-of select="normalize-space(.)"/></cl:ExternalMeasure></xsl:for-each>
      <cl:Coordinator hsaId="{lc:Samordningsansvarig/@hsaId}"/>
      <xsl:if test="lc:Uppfoljning"><cl:FollowUp date="{lc:Uppfoljning/@datum}"><xsl:value-of select="normalize-space(lc:Uppfoljning)"/></cl:FollowUp></xsl:if>
      <cl:PersonParticipated><xsl:value-of select="lc:PatientenDeltog = 'ja'"/></cl:PersonParticipated>
    </cl:Plan>
  </xsl:template>
</xsl:stylesheet>
